"""Running the kafka-* tools for their tests: `run()` calls a scripts/kafka-*.sh entry point
and returns (exit code, stdout, stderr); `supports()` asks the broker's ApiVersions through
kafka-broker-api-versions. Servers come from lib/kafka.py."""

import os
import subprocess

from lib.paths import SCRIPTS


def run(tool, *args, stdin=None, timeout=60, env=None):
    """Runs scripts/<tool>.sh; returns (code, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([os.path.join(SCRIPTS, tool + ".sh")] + [str(a) for a in args], input=stdin,
                       capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def supports(bootstrap, api_key):
    """Whether the broker lists api_key in ApiVersions (via kafka-broker-api-versions.sh)."""
    code, out, _ = run("kafka-broker-api-versions", "--bootstrap-server", bootstrap, timeout=30)
    if code != 0:
        return False
    for line in out.splitlines():
        line = line.strip()
        if line.startswith(api_key + "(") and "UNSUPPORTED" not in line:
            return True
    return False
