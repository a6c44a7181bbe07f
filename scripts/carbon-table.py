#!/usr/bin/python3
"""carbon-table.py - regenerates data/carbon-intensity.csv, the shipped table
of average grid carbon intensity by country (docs/CARBON.md, data/README.md).

Run by maintainers only, never by the build or CI (the build reads the
committed CSV):

    /usr/bin/python3 scripts/carbon-table.py            # writes data/carbon-intensity.csv
    /usr/bin/python3 scripts/carbon-table.py --tgz F    # from a tarball fetched already

It fetches the pinned npm package @tgwf/co2 (CO2.js by the Green Web
Foundation) with `npm pack`, checks it against the pinned integrity hash, and
reads data/output/average-intensities.json: Ember's yearly average carbon
intensity of electricity generation per country, keyed by ISO 3166-1 alpha-3
code.  Alpha-2 codes come from Debian's iso-codes package
(/usr/share/iso-codes/json/iso_3166-1.json).  Kosovo, which has no ISO code,
gets the user-assigned XK / XKX that Ember and the European Commission use.

Output: one header line, then the world average (codes empty), then every
country sorted by alpha-2 code; columns alpha2,alpha3,name,g_per_kwh,year,
source; RFC 4180 quoting (names such as "Palestine, State of" hold commas);
LF line ends.  Regions (continents, EU, G20 ...) are left out.
"""
import argparse
import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@tgwf/co2"
VERSION = "0.13.10"
# `npm pack --json` of that version; a republished tarball would differ.
INTEGRITY = ("sha512-iQZMYdLP+l1Kyi03EEE4jAZgzlAA8HRAbfgT3GgN6sUgbSoNS/UHijICUqgk"
             "um9aHIkDSOrtwkgbB/x3Gc/cQA==")
MEMBER = "package/data/output/average-intensities.json"
ISO_CODES = "/usr/share/iso-codes/json/iso_3166-1.json"
# Codes outside ISO 3166-1 that the data uses: alpha-3 -> alpha-2.
USER_ASSIGNED = {"XKX": "XK"}  # Kosovo
WORLD = "World"


def fetch(tmp):
    out = subprocess.run(["npm", "pack", "--json", "--pack-destination", tmp,
                          "%s@%s" % (PACKAGE, VERSION)],
                         check=True, capture_output=True, text=True).stdout
    return os.path.join(tmp, json.loads(out)[0]["filename"])


def check_integrity(path):
    with open(path, "rb") as f:
        digest = hashlib.sha512(f.read()).digest()
    got = "sha512-" + base64.b64encode(digest).decode()
    if got != INTEGRITY:
        sys.exit("carbon-table: %s is not %s@%s as pinned (integrity %s)"
                 % (path, PACKAGE, VERSION, got))


def read_intensities(path):
    with tarfile.open(path, "r:gz") as t:
        return json.load(t.extractfile(MEMBER))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tgz", help="the package tarball, fetched already")
    ap.add_argument("-o", "--output", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "carbon-intensity.csv"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tgz = args.tgz or fetch(tmp)
        check_integrity(tgz)
        data = read_intensities(tgz)
    with open(ISO_CODES, encoding="utf-8") as f:
        alpha2 = {e["alpha_3"]: e["alpha_2"] for e in json.load(f)["3166-1"]}
    alpha2.update(USER_ASSIGNED)

    source = "Ember %d, via CO2.js " + VERSION
    world, rows = None, []
    for key, e in data.items():
        g, year, name = e["emissions_intensity_gco2_per_kwh"], e["year"], e["country_or_region"]
        if not (isinstance(g, (int, float)) and 0 <= g <= 2000 and 1990 <= year <= 2030):
            sys.exit("carbon-table: %s: implausible figure %r for %r" % (key, g, year))
        code = e["country_code"]
        if not code:
            if name == WORLD:
                world = ["", "", WORLD, g, year, source % year]
            continue  # a region, not a country
        if code not in alpha2:
            sys.exit("carbon-table: %s (%s) has no ISO 3166-1 alpha-2 code: add it to "
                     "USER_ASSIGNED" % (code, name))
        if '"' in name or "\n" in name or "\\" in name:
            sys.exit("carbon-table: %r: a name the C table cannot take" % name)
        rows.append([alpha2[code], code, name, g, year, source % year])
    if world is None:
        sys.exit("carbon-table: no World row in the data")
    rows.sort(key=lambda r: r[0])
    for a, b in zip(rows, rows[1:]):
        if a[0] == b[0]:
            sys.exit("carbon-table: %s twice" % a[0])

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["alpha2", "alpha3", "name", "g_per_kwh", "year", "source"])
    for r in [world] + rows:
        w.writerow(r[:3] + [repr(float(r[3])).removesuffix(".0")] + r[4:])
    with open(args.output, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    print("carbon-table: %d countries and the world average written to %s"
          % (len(rows), os.path.normpath(args.output)))


if __name__ == "__main__":
    main()
