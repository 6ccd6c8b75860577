"""Write docs/api.md from the docstrings of every public name in ``napari_sinkhorn_em.__all__``.

    python docs/make_api.py          # rewrite docs/api.md
    python docs/make_api.py --check  # exit 1 if docs/api.md is out of date (used by the tests)
"""

import argparse
import inspect
import pathlib
import sys

import napari_sinkhorn_em

API_PATH = pathlib.Path(__file__).with_name("api.md")


def _signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _section(name, obj):
    lines = []
    if inspect.ismodule(obj):
        lines += [f"## `{name}` (module)", "", inspect.getdoc(obj) or "", ""]
        public = getattr(obj, "__all__", [n for n in dir(obj) if not n.startswith("_")])
        for member_name in public:
            member = getattr(obj, member_name)
            module = getattr(member, "__module__", None) or ""
            defined_here = module == obj.__name__ or module.startswith(obj.__name__ + ".")
            if (inspect.isfunction(member) or inspect.isclass(member)) and defined_here:
                lines += [f"### `{name}.{member_name}{_signature(member)}`", "", inspect.getdoc(member) or "", ""]
        return lines
    kind = "class" if inspect.isclass(obj) else "function"
    lines += [f"## `{name}{_signature(obj)}` ({kind})", "", inspect.getdoc(obj) or "", ""]
    if inspect.isclass(obj):
        seen = set()
        # The class's own methods first, then those it inherits from the package's base classes.
        for owner in obj.__mro__[:-1]:
            if not owner.__module__.startswith("napari_sinkhorn_em"):
                continue
            for member_name, member in vars(owner).items():
                if member_name.startswith("_") or not callable(member) or member_name in seen:
                    continue
                seen.add(member_name)
                target = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                lines += [f"### `{name}.{member_name}{_signature(target)}`", "", inspect.getdoc(target) or "", ""]
    return lines


def render():
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python docs/make_api.py`; do not edit by hand.",
        "",
    ]
    for name in sorted(napari_sinkhorn_em.__all__, key=str.lower):
        lines += _section(name, getattr(napari_sinkhorn_em, name))
    return "\n".join(lines).rstrip() + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not API_PATH.exists() or API_PATH.read_text(encoding="utf-8") != text:
            print("docs/api.md is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    API_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {API_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
