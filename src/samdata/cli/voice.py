"""`samdata voice run | clips | package`: recordings to a packaged voice-model dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from samdata.cli._common import (
    CatalogOpt,
    ConfigOpt,
    JsonOpt,
    StrictOpt,
    app,
    emit_json,
    err,
    fail,
    load,
    open_catalog,
    out,
)

voice_app = typer.Typer(help="Voice datasets: cut recordings into checked clips, package them for RVC.")
app.add_typer(voice_app, name="voice")


@voice_app.command("run")
def voice_run(
    config: ConfigOpt = None, catalog: CatalogOpt = None, json: JsonOpt = False, strict: StrictOpt = False
) -> None:
    """Extract, segment and verify every recording of every [[voice.sources]] (unchanged ones are
    skipped); a recording that cannot be read is reported with its reason (--strict: exit 1)."""
    from samdata.voice import VoiceError, run_voice

    cfg = load(config, catalog)
    with open_catalog(cfg) as cat:
        try:
            report = run_voice(cfg, cat, progress=lambda path, n: err.print(f"{escape(path)}: {n} clips"))
        except VoiceError as e:
            fail(str(e))
    if json:
        emit_json(report.__dict__)
    else:
        out.print(
            f"{report.files} recordings ({report.processed} cut, {report.unchanged} unchanged,"
            f" {len(report.failed)} failed): {report.clips} clips, {report.passed} passed every check,"
            f" {report.dropped} pieces of speech dropped; {report.minutes:.1f} min in {report.seconds:.1f} s"
        )
        for f in report.failed:
            out.print(f"failed: {escape(f['path'])}: {escape(f['reason'])}")
    if report.failed and strict:
        raise typer.Exit(1)


@voice_app.command("clips")
def voice_clips(
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    speaker: Annotated[str | None, typer.Option("--speaker", help="Only this speaker's clips.")] = None,
    json: JsonOpt = False,
) -> None:
    """Every clip: recording, offsets, passed, the checks it failed and every figure."""
    from samdata.voice import clips_json

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        data = clips_json(cat, speaker)
    if json:
        emit_json(data)
        return
    table = Table("clip", "recording", "start", "end", "passed", "failed")
    for k in data["clips"]:
        table.add_row(
            k["id"][:12], escape(Path(k["source_file"]).name), f"{k['start_s']:.2f}", f"{k['end_s']:.2f}",
            "yes" if k["passed"] else "no", escape(", ".join(k["failed"])),
        )  # fmt: skip
    out.print(table)


@voice_app.command("package")
def voice_package(
    speaker: Annotated[str, typer.Option("--speaker", help="The [[voice.speakers]] name.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the RVC layout and manifest.json.")
    ],
    rate: Annotated[int, typer.Option("--rate", help="Target sample rate: 40000 or 48000.")] = 40_000,
    config: ConfigOpt = None,
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write one speaker's clean clips in RVC's layout; refused for a speaker without consent."""
    from samdata.voice import VoiceError
    from samdata.voice.package import package

    cfg = load(config, catalog)
    with open_catalog(cfg, write=False) as cat:
        try:
            result = package(cfg, cat, speaker, out_dir, rate)
        except VoiceError as e:
            fail(str(e), code=1)
    if json:
        emit_json(
            {
                "out": str(result.out),
                "clips": result.clips,
                "seconds": result.seconds,
                "warnings": result.warnings,
            }
        )
        return
    out.print(f"{result.clips} clips, {result.seconds / 60:.1f} min → {escape(str(result.out))}")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}", markup=True)
