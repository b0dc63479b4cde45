"""`feeds validate`: errors with file:line and a non-zero exit, or a summary."""

from __future__ import annotations

import subprocess
import sys

from feeds.commands import cli
from feeds.data.revisions import ledger_path


def test_valid_file_prints_a_summary_and_exits_zero(data_file, capsys, monkeypatch):
    assert cli.main(["validate", str(data_file)]) == 0
    out = capsys.readouterr().out
    assert "12 talks" in out
    assert ledger_path(data_file).exists()


def test_summary_names_the_next_talk(data_file, capsys, monkeypatch):
    from helpers import NOW
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)
    assert cli.main(["validate", str(data_file)]) == 0
    out = capsys.readouterr().out
    assert "next: Mon 13 Apr 2026, 17:00 CEST" in out
    assert "Sustainable Development" in out


def test_invalid_file_lists_every_error_and_exits_non_zero(data_file, capsys):
    text = data_file.read_text()
    text = text.replace("  - id: 2026-03-09-wen\n", "  - id: 2026-03-09-wen\n    timezone: Nowhere/City\n")
    text = text.replace("url: https://arxiv.org/pdf/2510.14231", "url: arxiv.org/pdf/2510.14231")
    data_file.write_text(text)
    assert cli.main(["validate", str(data_file)]) == 1
    err = capsys.readouterr().err
    lines = text.splitlines()
    zone_line = next(n for n, line in enumerate(lines, 1) if "Nowhere/City" in line)
    url_line = next(n for n, line in enumerate(lines, 1) if "url: arxiv.org" in line)
    assert f"{data_file}:{zone_line}:" in err and "talk 2026-03-09-wen" in err
    assert f"{data_file}:{url_line}:" in err and "talk 2026-03-02-walter" in err
    assert "2 problem(s)" in err


def test_console_script_is_installed(data_file):
    result = subprocess.run([sys.executable, "-m", "feeds", "validate", str(data_file)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "OK, 12 talks" in result.stdout


def test_validate_and_build_read_the_data_file_from_the_same_setting(data_file, tmp_path,
                                                                     monkeypatch, capsys):
    """FEEDS_TALKS_FILE names the data file for every command, as for the server."""
    monkeypatch.setenv("FEEDS_TALKS_FILE", str(data_file))
    monkeypatch.chdir(tmp_path)  # no data/talks.yaml here
    assert cli.main(["validate"]) == 0
    assert f"{data_file}: OK, 12 talks" in capsys.readouterr().out
    assert cli.main(["build", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "calendar.ics").exists()
