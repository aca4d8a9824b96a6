"""Start-up: the command line and `scsampler info` import neither torch nor Ray (benchmarks/startup.py measures it)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from scsampler.cli import SUMMARIES, build_parser, main

HEAVY = ("torch", "torchvision", "ray", "pandas", "matplotlib")

# Runs in a fresh interpreter: the code given, then prints which heavy modules got imported.
_REPORT = "import sys, json\n{code}\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"


def heavy_modules_after(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT.format(code=code, heavy=HEAVY)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_cli_imports_no_heavy_module():
    assert heavy_modules_after("import scsampler.cli") == []


def test_help_and_info_import_no_heavy_module(numbered_video):
    run = "from scsampler.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert heavy_modules_after(run.format(argv=["--help"])) == []
    assert heavy_modules_after(run.format(argv=["info", str(numbered_video), "--json"])) == []


def test_a_command_that_needs_torch_still_gets_it():
    assert "torch" in heavy_modules_after("import scsampler\nscsampler.Classifier")


def test_summaries_are_the_commands_own_help():
    parser = build_parser()  # every command's full parser
    (subparsers,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert {choice.dest: choice.help for choice in subparsers._choices_actions} == SUMMARIES


def test_top_level_help_lists_every_command(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no line wrapping inside a summary
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name, summary in SUMMARIES.items():
        assert f"{name} {summary}" in out


def test_lazy_public_api():
    import scsampler

    from scsampler import Classifier, classify_video, extract_signals  # noqa: F401

    assert scsampler.list_models() and "Classifier" in dir(scsampler)
    assert set(scsampler.__all__) <= set(dir(scsampler))
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        scsampler.nosuch  # noqa: B018
