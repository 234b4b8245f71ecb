"""The service runs without the emulators: building what ``medsign serve``, ``medsign worker``
and ``medsign migrate`` build — settings, the composition root, the API and the pages, the
worker's flows, the migrated database — and setting a PDF in the shipped fonts, in a fresh
interpreter, imports no emulator module and none of the packages only the emulators need
(fontTools, which comes with ``medsign[emulators]``; fpdf2, which the project no longer uses).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from datetime import UTC, datetime

from medsign import bootstrap, cli
from medsign.config import load_settings
from medsign.db import migrate
from medsign.pdf import fonts, writer

container = bootstrap.build(load_settings(None))
migrate.upgrade(container.engine)
container.app()
container.ensure_background_work()
container.worker()
writer.render(fonts.regular(), [writer.Block("Лист подписания", size=12, line=6, bold=True)],
              title="t", author="a", creator="c", created=datetime.now(UTC), bold=fonts.bold())
print(json.dumps(sorted(sys.modules)))
"""
# what the service must not load: the emulators and what only they need
EMULATOR_ONLY = re.compile(r"^(medsign\.integrations\.\w+\.emulator(\.|$)|medsign\.demo(_people)?$"
                           r"|medsign\.pdf\.cutting$|fontTools(\.|$)|fpdf(\.|$))")


def test_the_service_paths_import_no_emulator_and_nothing_only_they_need(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSIGN_")}
    env["MEDSIGN_DATABASE__URL"] = f"sqlite:///{tmp_path / 'medsign.db'}"
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "medsign.bootstrap" in loaded and "fastapi" in loaded  # the probe ran
    assert [name for name in loaded if EMULATOR_ONLY.match(name)] == []
