# Helpers shared by the test bed scripts (sourced by up.sh and hosts.sh).

# Write a file only if its content changed; returns 0 when it changed.
write_if_changed() {
  local path=$1 tmp
  tmp=$(mktemp "$path.XXXXXX")
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  mv "$tmp" "$path"
  return 0
}

# pid from a pidfile if that process is alive and its command line mentions $2
pid_alive() { # pidfile marker
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid"
}
