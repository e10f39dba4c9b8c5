# SPDX-License-Identifier: MIT
"""root_config(): what a test (or `make bench`) running as root does to give a process settings
that name a place. A root process takes them only from a config file of root's, never from its
environment (common/config.h; issue 18, finding 8)."""
import atexit
import os
import shutil
import tempfile
from pathlib import Path

# The settings that name a place or a credential: root_config() moves them into a file.
PLACE_VARS = {
    "LDPROF_OUTPUT_ENDPOINT": ("output", "endpoint"),
    "LDPROF_OUTPUT_TOKEN_FILE": ("output", "token_file"),
    "LDPROF_OUTPUT_HEADER": ("output", "header"),
    "LDPROF_TLS_CA_FILE": ("tls", "ca_file"),
    "LDPROF_TLS_CERT_FILE": ("tls", "cert_file"),
    "LDPROF_TLS_KEY_FILE": ("tls", "key_file"),
    "LDPROF_SPOOL_DIR": ("spool", "dir"),
    "LDPROF_LOG_FILE": ("log", "file"),
    "LDPROF_AGENT_SOCKET": ("agent", "socket"),
}
_config_dir = []


def root_config(env):
    """env with its PLACE_VARS moved into a new config file (root's, in a folder of root's that
    every user can read), merged into the one env's LDPROF_CONFIG names if any: the file's lines
    for those keys give way, as they would to the environment. Unchanged when not root."""
    moved = {k: str(v) for k, v in env.items() if k in PLACE_VARS}
    if os.geteuid() != 0 or not moved:
        return env
    if not _config_dir:
        d = tempfile.mkdtemp(prefix="ldprof-test-config-")
        os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, d, True)
        _config_dir.append(d)
    keys = {PLACE_VARS[k] for k in moved}
    lines, sect = [], None
    base = env.get("LDPROF_CONFIG")
    for line in (Path(base).read_text().splitlines() if base else []):
        t = line.strip()
        if t.startswith("["):
            sect = t[1:t.find("]")].strip()
        elif "=" in t and not t.startswith((";", "#")) and (sect, t.split("=")[0].strip()) in keys:
            continue
        lines.append(line)
    for var, value in moved.items():
        lines += [f"[{PLACE_VARS[var][0]}]", f"{PLACE_VARS[var][1]} = {value}"]
    fd, path = tempfile.mkstemp(dir=_config_dir[0], suffix=".ini")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    out = {k: v for k, v in env.items() if k not in PLACE_VARS}
    out["LDPROF_CONFIG"] = path
    return out
