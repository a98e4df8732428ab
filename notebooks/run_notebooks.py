"""Executes every notebook top to bottom (outputs are not written back) and checks that the
stored notebooks carry no outputs. Exit status non-zero on any failure.

    python notebooks/run_notebooks.py               execute each notebook (CI)
    python notebooks/run_notebooks.py --html DIR    also write each executed notebook to
                                                    DIR/NAME.html (docs/notebooks/ holds the
                                                    rendered ones committed, for readers)
    python notebooks/run_notebooks.py 04 ...        only the notebooks whose names start so

The HTML is nbconvert's basic template (no notebook CSS, a few lines of our own) with the
plots inline as PNG, so that a page stays small; it needs `nbconvert`.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent

STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
.jp-InputArea, .input_area, pre { background: #f6f8fa; border-radius: 4px; }
pre { padding: .5rem; overflow-x: auto; font-size: .85rem; }
.jp-OutputArea-output pre { background: #fff; }
img { max-width: 100%; }
table { border-collapse: collapse; font-size: .85rem; }
td, th { border: 1px solid #ddd; padding: 2px 6px; }
.jp-InputPrompt, .jp-OutputPrompt, .prompt { display: none; }
</style>"""


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    """The executed notebook as one small self-contained page."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
        f"{STYLE}</head><body>\n<p><em>Rendered from notebooks/{title}.ipynb by "
        f"notebooks/run_notebooks.py --html; run it to see it live.</em></p>\n{body}\n</body></html>\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--html", type=Path, help="write each executed notebook here as HTML")
    args = parser.parse_args()
    bad = 0
    for path in sorted(HERE.glob("*.ipynb")):
        if args.only and not any(path.name.startswith(o) for o in args.only):
            continue
        nb = nbformat.read(path, as_version=4)
        stored = [c for c in nb.cells if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
        if stored:
            print(f"{path.name}: {len(stored)} cells stored with outputs (strip them)")
            bad += 1
        last = nb.cells[-1] if nb.cells else None
        if last is None or last.cell_type != "markdown" or not last.source.startswith("## What this showed"):
            print(f"{path.name}: does not end with a '## What this showed' markdown cell")
            bad += 1
        t0 = time.perf_counter()
        try:
            NotebookClient(nb, timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": str(HERE)}}).execute()
            print(f"{path.name}: ok ({time.perf_counter() - t0:.1f} s)")
        except Exception as e:  # noqa: BLE001 - report every notebook's failure
            print(f"{path.name}: FAILED\n{e}")
            bad += 1
            continue
        if args.html is not None:
            args.html.mkdir(parents=True, exist_ok=True)
            out = args.html / f"{path.stem}.html"
            out.write_text(to_html(nb, path.stem))
            print(f"  wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
