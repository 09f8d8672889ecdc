#!/bin/sh
# Writes the gzip copies of the web device's files that the server embeds
# (a test checks they decompress to the files). Run after editing web/.
set -e
cd "$(dirname "$0")"
for f in device.html device.js device.css; do
    gzip -9 -n -c "$f" >"$f.gz"
done
