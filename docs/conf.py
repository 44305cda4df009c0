"""Sphinx configuration for the jtransfer documentation (``make docs``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))          # this checkout's jtransfer
sys.path.insert(0, os.path.abspath("_ext"))

import jtransfer  # noqa: E402

project = "jtransfer"
author = "The jtransfer authors"
copyright = "the jtransfer authors, Apache-2.0"
release = version = jtransfer.__version__

extensions = [
    "jtransfer_apigen",            # api/*.rst from each subpackage's __all__, notebooks, READMEs
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",         # Google-style Args / Returns / Raises / Example
    "sphinx.ext.mathjax",          # .. math:: and :math: in the docstrings
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "myst_nb",                     # MyST Markdown pages and the jupytext notebooks
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".py": "myst-nb"}
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
exclude_patterns = ["_build", "_ext", "_templates", "conf.py", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Notebooks run at build time and are cached (jupyter-cache under _build/): a notebook whose
# code changed is re-executed, an unchanged one is read from the cache. A failing cell fails
# the build.
nb_execution_mode = os.environ.get("JTRANSFER_NB_EXECUTION", "cache")
nb_execution_cache_path = os.path.join(os.path.dirname(__file__), "_build", ".jupyter_cache")
nb_execution_timeout = 900
# language_models needs the shared MiniLM checkpoint and review files (not in a fresh clone):
# rendered without outputs here; the tests execute it where the files exist.
nb_execution_excludepatterns = ["*language_models*"]
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("References", "notes_style"), ("Example", "example_style")]
add_module_names = False

html_theme = "furo"
html_title = f"jtransfer {release}"
html_static_path = []
html_show_sourcelink = False

nitpicky = False
suppress_warnings = ["mystnb.unknown_mime_type"]

# MathJax: the CDN by default. For reading offline, point JTRANSFER_MATHJAX_PATH at a local
# copy, e.g. Debian's libjs-mathjax (MathJax 2):
#   JTRANSFER_MATHJAX_PATH=file:///usr/share/javascript/mathjax/MathJax.js make docs
_mathjax = os.environ.get("JTRANSFER_MATHJAX_PATH")
if _mathjax:
    if "MathJax.js" in _mathjax:   # MathJax 2 needs its config named in the URL
        mathjax_path = _mathjax if "?config=" in _mathjax else \
            _mathjax + "?config=TeX-AMS-MML_HTMLorMML"
    else:
        mathjax_path = _mathjax
    if "MathJax.js" in _mathjax:
        # myst-nb marks notebook cells tex2jax_ignore and passes MathJax 3 options only; MathJax
        # 2 needs the same "process these classes" rule in its own config format
        mathjax2_config = {"tex2jax": {
            "inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
            "processEscapes": True, "ignoreClass": "tex2jax_ignore|mathjax_ignore",
            "processClass": "tex2jax_process|mathjax_process|math|output_area"}}
