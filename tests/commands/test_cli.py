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


def test_validate_warns_at_the_line_of_the_old_key_uid_domain(data_file, capsys):
    """The pre-1.0 name still publishes, with a warning that names file:line
    (and a GitHub annotation there) and says what to write instead."""
    text = data_file.read_text().replace("  id_authority:", "  uid_domain:")
    data_file.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "uid_domain:" in row)
    assert cli.main(["validate", str(data_file), "--format", "github"]) == 0
    out, err = capsys.readouterr()
    assert f"warning: {data_file}:{line}:" in err and "rename the key to id_authority" in err
    assert f"::warning file={data_file},line={line}," in out
    assert "OK, 12 talks" in out


def test_the_id_authority_and_its_old_name_at_once_fail(data_file, capsys):
    text = data_file.read_text().replace("  id_authority: efficientml@gmail.com\n",
                                         "  id_authority: efficientml@gmail.com\n"
                                         "  uid_domain: efficientml@gmail.com\n")
    data_file.write_text(text)
    assert cli.main(["validate", str(data_file)]) == 1
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "uid_domain:" in row)
    assert f"{data_file}:{line}:" in capsys.readouterr().err
