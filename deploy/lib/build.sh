# shellcheck shell=bash
# deploy/lib/build.sh: configure (once) and build with CMake + Ninja + ccache, two jobs.
#   apexloop_build BUILD_DIR [CMAKE_ARGS...] [-- TARGETS...]
apexloop_build() {
  local dir=$1
  shift
  local -a cmake_args=() targets=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    cmake_args+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  targets=("$@")
  local root
  root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
  export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/apexloop/ccache}
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  if [[ ! -f $dir/build.ninja ]]; then
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" >/dev/null
  fi
  ninja -C "$dir" -j "${APEXLOOP_BUILD_JOBS:-2}" "${targets[@]}"
}
