"""``geouic info`` on a ``/vsicurl/`` URL: the URL reaches GDAL intact, without a flood of GDAL warnings."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from geouic.cli import main


def test_info_keeps_a_vsicurl_url_intact():
    with socket.socket() as s:  # a local port nobody listens on: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"/vsicurl/http://127.0.0.1:{port}/scene.tif"
    result = CliRunner().invoke(main, ["info", url, "--no-stats"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {url}: not a readable raster"), result.output
    assert "CPLE_NotSupported" not in result.output and "Missing url parameter" not in result.output
