"""Generate the module's Inputs/Outputs tables (a small stand-in for terraform-docs).

Reads ``terraform/variables.tf`` and ``terraform/outputs.tf`` with a minimal HCL block
reader (top-level ``variable``/``output`` blocks; their ``type``, ``default``,
``description``, ``sensitive`` attributes; nested blocks such as ``validation`` are
skipped) and writes Markdown tables between the markers

    <!-- BEGIN_TF_DOCS -->
    <!-- END_TF_DOCS -->

in ``README.md`` (or the files given on the command line).

Usage::

    python -m tools.tfdocs            # rewrite the tables
    python -m tools.tfdocs --check    # exit 1 if a table is stale (CI)
    python -m tools.tfdocs --print    # print the tables
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE_DIR = REPO_ROOT / "terraform"
TARGETS = (REPO_ROOT / "README.md",)
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"

_BLOCK_RE = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.MULTILINE)
_ATTR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*)$")


@dataclass
class Variable:
    name: str
    type: str = "any"
    description: str = ""
    default: str | None = None  # HCL source text of the default, None = required
    sensitive: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass
class Output:
    name: str
    description: str = ""
    sensitive: bool = False


# --------------------------------------------------------------------------- minimal HCL reading


def _scan_to_close(text: str, start: int) -> int:
    """Index just after the brace that closes the one opened before ``start``."""
    depth = 1
    i = start
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _skip_string(text, i)
            continue
        if ch == "#" or text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        if text.startswith("<<", i):
            match = re.match(r"<<-?([A-Za-z_]+)\n", text[i:])
            if match:
                end = re.search(rf"^\s*{match.group(1)}\s*$", text[i + match.end() :], re.MULTILINE)
                i = i + match.end() + (end.end() if end else len(text))
                continue
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def _skip_string(text: str, i: int) -> int:
    """Index just after the double-quoted string starting at ``i`` (handles escapes, ${...})."""
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if text.startswith("${", i):
            i = _scan_to_close(text, i + 2)
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise ValueError("unterminated string")


def _top_level_attributes(body: str) -> dict[str, str]:
    """``name = expression`` pairs at depth 0 of a block body (nested blocks skipped)."""
    attrs: dict[str, str] = {}
    i = 0
    while i < len(body):
        line_end = body.find("\n", i)
        line_end = len(body) if line_end < 0 else line_end
        line = body[i:line_end]
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            i = line_end + 1
            continue
        match = _ATTR_RE.match(line)
        if match:
            name = match.group(1)
            value_start = i + match.start(2)
            j = value_start
            # extend the expression until its brackets balance and the line ends
            depth = 0
            while j < len(body):
                ch = body[j]
                if ch == '"':
                    j = _skip_string(body, j)
                    continue
                if ch in "{[(":
                    depth += 1
                elif ch in "}])":
                    depth -= 1
                elif ch == "\n" and depth == 0:
                    break
                j += 1
            attrs[name] = body[value_start:j].strip()
            i = j + 1
            continue
        if stripped.endswith("{"):  # nested block: skip it
            i = _scan_to_close(body, i + line.index("{") + 1)
            continue
        i = line_end + 1
    return attrs


def block_bodies(path: Path, kind: str) -> dict[str, str]:
    """``{name: body text}`` of the top-level ``kind`` blocks (``variable``/``output``) in a file."""
    text = path.read_text()
    found = {}
    for match in _BLOCK_RE.finditer(text):
        if match.group(1) == kind:
            end = _scan_to_close(text, match.end())
            found[match.group(2)] = text[match.end() : end - 1]
    return found


def _blocks(path: Path, kind: str) -> list[tuple[str, dict[str, str]]]:
    return [(name, _top_level_attributes(body)) for name, body in block_bodies(path, kind).items()]


def _string_value(expr: str) -> str:
    """Value of a plain HCL string literal (JSON-compatible escapes); else the source text."""
    if expr.startswith('"') and expr.endswith('"'):
        try:
            return json.loads(expr)
        except json.JSONDecodeError:
            return expr[1:-1]
    return expr


def read_variables(module_dir: Path = MODULE_DIR) -> list[Variable]:
    result = []
    for name, attrs in _blocks(module_dir / "variables.tf", "variable"):
        result.append(
            Variable(
                name=name,
                type=" ".join(attrs.get("type", "any").split()),
                description=_string_value(attrs.get("description", '""')),
                default=attrs.get("default"),
                sensitive=attrs.get("sensitive", "false") == "true",
            )
        )
    return result


def read_outputs(module_dir: Path = MODULE_DIR) -> list[Output]:
    return [
        Output(
            name=name,
            description=_string_value(attrs.get("description", '""')),
            sensitive=attrs.get("sensitive", "false") == "true",
        )
        for name, attrs in _blocks(module_dir / "outputs.tf", "output")
    ]


# --------------------------------------------------------------------------- rendering


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    text = " ".join(text.split())
    return f"`{text.replace('|', chr(92) + '|')}`"


def render(module_dir: Path = MODULE_DIR) -> str:
    lines = [
        "### Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for var in sorted(read_variables(module_dir), key=lambda v: v.name):
        default = "n/a" if var.default is None else _code(var.default)
        description = _cell(var.description) + (" (sensitive)" if var.sensitive else "")
        lines.append(
            f'| <a name="input_{var.name}"></a> [{var.name}](#input_{var.name}) | {description} '
            f"| {_code(var.type)} | {default} | {'yes' if var.required else 'no'} |"
        )
    lines += [
        "",
        "### Outputs",
        "",
        "| Name | Description | Sensitive |",
        "|------|-------------|:---------:|",
    ]
    for out in sorted(read_outputs(module_dir), key=lambda o: o.name):
        lines.append(
            f'| <a name="output_{out.name}"></a> [{out.name}](#output_{out.name}) | {_cell(out.description)} '
            f"| {'yes' if out.sensitive else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def inject(document: str, tables: str) -> str:
    """Replace what lies between the markers (markers kept)."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END, start)
    return document[:start] + "\n" + tables + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    parser.add_argument("--print", action="store_true", help="print the tables and exit")
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help=f"target files (default: {', '.join(str(t.relative_to(REPO_ROOT)) for t in TARGETS)})",
    )
    args = parser.parse_args(argv)

    tables = render()
    if args.print:
        sys.stdout.write(tables)
        return 0
    targets = args.files or list(TARGETS)
    marked = [t for t in targets if t.is_file() and BEGIN in t.read_text() and END in t.read_text()]
    for target in targets:
        if target not in marked:
            print(f"note: {target} has no {BEGIN} / {END} markers; skipped", file=sys.stderr)
    if not marked:
        print("error: no target file has the markers", file=sys.stderr)
        return 1
    stale = []
    for target in marked:
        current = target.read_text()
        wanted = inject(current, tables)
        if current == wanted:
            continue
        if args.check:
            stale.append(target)
        else:
            target.write_text(wanted)
            print(f"updated {target}")
    if stale:
        for target in stale:
            print(f"error: {target} is stale: run `python -m tools.tfdocs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
