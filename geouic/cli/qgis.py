"""``geouic qgis install``: install the geouic Processing provider into a QGIS profile."""

from __future__ import annotations

import click

from geouic.cli.options import handle_errors, verbosity


@click.group(short_help="QGIS integration: install the Processing provider.")
def cli():
    """The geouic Processing provider for QGIS (3.22 LTR and newer).

    It adds the geouic algorithms to the Processing toolbox, the graphical modeller,
    "Run as batch process" and `qgis_process`, running this geouic executable.
    """


@cli.command(short_help="Install the provider plugin into a QGIS profile.")
@click.option("--profile", default="default", show_default=True, help="QGIS profile (Settings > User Profiles).")
@click.option("--profiles-dir", type=click.Path(file_okay=False), default=None,
              help="Folder holding the QGIS profiles. [default: $QGIS_CUSTOM_CONFIG_PATH/profiles, else "
                   "~/.local/share/QGIS/QGIS3/profiles on Linux]")
@verbosity
@handle_errors
def install(profile, profiles_dir):
    """Copy the plugin into PROFILE, record this geouic executable and enable the plugin.

    Restart QGIS afterwards; the algorithms are under "geouic" in the Processing toolbox, and
    `qgis_process list` shows them. The executable can be changed in Settings > Options >
    Processing > Providers > geouic.

    \b
    geouic qgis install
    geouic qgis install --profile analyst
    qgis_process run geouic:classify -- INPUT=scene.tif CLASSES=12 METHOD=kmeans OUTPUT=classes.tif
    """
    import geouic
    from geouic.batch import geouic_command
    from geouic.qgisplugin import install_plugin

    command = geouic_command()
    executable = command[0] if len(command) == 1 else None
    target = install_plugin(profile, profiles_dir=profiles_dir, executable=executable,
                            commands=command_table(), version=geouic.__version__)
    click.echo(f"geouic Processing provider installed in {target} (executable: {executable or 'geouic on PATH'}); "
               "restart QGIS.")


def command_table() -> dict[str, dict]:
    """Help text and option flags of every geouic command (what the plugin may offer)."""
    import inspect

    from geouic.cli import main

    ctx = click.Context(main)
    table = {}
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        if name in ("batch", "qgis") or command is None:
            continue
        flags = sorted({o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]
                        if o.startswith("-")})
        text = inspect.cleandoc(command.help or "").replace("\b\n", "")
        table[name] = {"help": text, "options": flags}
    return table
