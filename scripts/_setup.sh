# Sourced by scripts/test and scripts/emails: the virtualenv and the system packages
# the tests need. Not a command of its own.

# .venv with mailflow installed (editable) and the test extras. An editable install
# picks up code changes by itself, so reinstall only when pyproject.toml changes
# (building one fetches the build backend each time).
ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=.venv/.mailflow-test-install wanted
  wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$wanted" >"$stamp"
  fi
}

# ensure_apt COMMAND:PACKAGE ...: install each Debian PACKAGE whose COMMAND is
# missing (as root with apt-get), or say what to run and fail.
ensure_apt() {
  local missing=() item cmd pkg
  for item in "$@"; do
    cmd=${item%%:*} pkg=${item#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$(basename "$0"): installing ${missing[*]}" >&2
    # On Debian, installing Dovecot also tries to start a system Dovecot ("policy-rc.d
    # denied" is harmless): the tests run their own, on their own base_dir and port.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "$(basename "$0"): missing system packages. Run:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    echo "(the tests use the real programs and never skip)" >&2
    exit 1
  fi
}

# What the tests run for real: Dovecot (IMAP), Chromium and its driver (the emails
# in a browser), mutt (format=flowed as a mail client reads it), faketime (the
# installed CLI run at other dates, months of a relationship).
TEST_PACKAGES=(dovecot:dovecot-imapd chromium:chromium chromedriver:chromium-driver mutt:mutt faketime:faketime)
