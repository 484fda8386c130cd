#!/usr/bin/env bash
# Create the virtual environment (when missing) and install daytwo into it, editable.
#
#   scripts/install.sh run   daytwo and its runtime dependencies: what `make demo` needs
#   scripts/install.sh dev   those, the test tools and the optional encoders, and pip itself
#                            (pip-audit reads the environment through it): what `make test` needs
#
# Environment: VENV (default .venv), PYTHON (python3), INSTALLER (uv, the default, or pip),
# UV (a uv executable to use).
#
# uv (the `uv` package on PyPI) resolves and installs the same packages as pip in a fraction
# of the time. It is taken from UV or PATH, or else installed from PyPI with pip (a few
# seconds, once per machine) into a folder of the user's cache,
# ${XDG_CACHE_HOME:-~/.cache}/daytwo/uv, where the next clone finds it (remove the folder
# to have it installed afresh). Where uv cannot be had, or its install fails, pip installs as
# before. uv reads its own settings (UV_INDEX_URL, UV_EXTRA_INDEX_URL, uv.toml), not pip's:
# behind a package mirror only pip is configured for, set those or INSTALLER=pip.
set -euo pipefail

what=${1:-}
venv=${VENV:-.venv}
python=${PYTHON:-python3}
installer=${INSTALLER:-uv}
case $what in
  run) spec=(-e .) ;;
  dev) spec=(-e ".[dev]") ;;
  *) echo "usage: scripts/install.sh run|dev" >&2; exit 2 ;;
esac
case $installer in
  uv | pip) ;;
  *) echo "INSTALLER=$installer: expected uv or pip" >&2; exit 2 ;;
esac
started=$SECONDS

# A uv executable: UV, then PATH, then the one installed earlier into the cache, then one
# installed now from PyPI with the pip at hand (the Python's own, else the environment's).
# Prints nothing when none can be had.
find_uv() {
  local home=${XDG_CACHE_HOME:-${HOME:-.}/.cache}/daytwo/uv
  if [[ -n ${UV:-} ]]; then
    echo "$UV"
  elif command -v uv >/dev/null 2>&1; then
    command -v uv
  elif "$home/bin/uv" --version >/dev/null 2>&1; then
    echo "$home/bin/uv"
  else
    local pip=("$python" -m pip)
    if ! "$python" -m pip --version >/dev/null 2>&1; then
      [[ -x $venv/bin/python ]] || "$python" -m venv --without-pip "$venv" || return 0
      "$venv/bin/python" -m pip --version >/dev/null 2>&1 ||
        "$venv/bin/python" -m ensurepip >/dev/null 2>&1 || return 0
      pip=("$venv/bin/python" -m pip)
    fi
    # --target: a folder of its own, whatever manages the Python's own packages. Installed
    # into a new folder and then moved in place, so that a run stopped half-way leaves no
    # half of it, and two clones installing at once keep the first one done.
    mkdir -p "$(dirname "$home")" || return 0
    local new
    new=$(mktemp -d "$home.new.XXXXXX") || return 0
    if "${pip[@]}" install -q --disable-pip-version-check --target "$new" uv \
      >/dev/null 2>&1 && "$new/bin/uv" --version >/dev/null 2>&1; then
      "$home/bin/uv" --version >/dev/null 2>&1 || { rm -rf "$home" && mv "$new" "$home"; }
    fi
    rm -rf "$new"
    if "$home/bin/uv" --version >/dev/null 2>&1; then
      echo "$home/bin/uv"
    fi
  fi
}

if [[ $what == run ]]; then
  echo "installing daytwo and its runtime dependencies into $venv…"
else
  echo "installing daytwo, its test tools and optional encoders into $venv…"
fi

uv=""
if [[ $installer == uv ]]; then
  uv=$(find_uv)
  [[ -n $uv ]] || echo "uv could not be installed; installing with pip (slower)"
fi
if [[ -n $uv ]]; then
  # No pip in the environment: uv installs it, and only for `dev`, where pip-audit needs it.
  [[ -x $venv/bin/python ]] || "$python" -m venv --without-pip "$venv"
  extra=()
  [[ $what == dev ]] && extra=(pip --upgrade-package pip)
  if "$uv" pip install -q --python "$venv/bin/python" "${spec[@]}" "${extra[@]}"; then
    echo "installed with uv in $((SECONDS - started)) s"
    exit 0
  fi
  echo "uv could not install; installing with pip (slower)"
fi

[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip --version >/dev/null 2>&1 || "$venv/bin/python" -m ensurepip >/dev/null
if [[ $what == run ]]; then
  # Byte-compiling every module at install time costs a third of pip's install; what the
  # demo imports is compiled when it is first imported instead (uv never compiles ahead).
  "$venv/bin/python" -m pip install -q --no-compile --disable-pip-version-check "${spec[@]}"
else
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "${spec[@]}"
fi
echo "installed with pip in $((SECONDS - started)) s"
