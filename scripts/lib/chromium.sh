# Sourced by scripts/test: makes sure the browser tests have Debian's Chromium, its
# WebDriver and a CJK font (so screenshots show Chinese text). Installs the Debian
# packages when missing; never downloads a browser of its own.
ensure_chromium() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-zenhei)
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "scripts/test: installing ${missing[*]} (Debian packages) for the browser tests"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! $sudo apt-get install -y -q "${missing[@]}" >/dev/null; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}
