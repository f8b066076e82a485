#!/usr/bin/env python3
"""Regenerates trust/production/ from myna-card's published data (MIT).

Usage: python3 trust/extract.py ~/.cargo/registry/src/*/myna-card-3.3.4
Copies certs/{auth,sign}ca0N.cer (J-LIS JPKI roots) and extracts the production CV CA keys
(key ids 5xxxxxx) from src/ca.rs into anchors.json. crates/card tests check the result against
myna-card's compiled tables, so a drift is caught.
"""
import hashlib, json, os, re, shutil, sys

M = sys.argv[1]
out = os.path.join(os.path.dirname(__file__), "production")
for f in sorted(os.listdir(M + "/certs")):
    if re.fullmatch(r"(auth|sign)ca0\d\.cer", f):
        shutil.copy(M + "/certs/" + f, out)
src = open(M + "/src/ca.rs").read()
mods = {m.group(1): bytes(int(x, 16) for x in re.findall(r"0x([0-9A-Fa-f]{2})", m.group(2)))
        for m in re.finditer(r"const MODULUS_(\d+): &\[u8; 256\] = &\[(.*?)\];", src, re.S)}
keys = []
for m in re.finditer(r"CaKey \{\s*key_id: &\[(.*?)\],\s*modulus: MODULUS_(\d+),", src, re.S):
    kid = bytes(int(x, 16) for x in re.findall(r"0x([0-9A-Fa-f]{2})", m.group(1)))
    if m.group(2).startswith("5"):
        keys.append({"name": m.group(2), "key_id": kid.hex(), "exponent": "010001",
                     "modulus": mods[m.group(2)].hex()})
roots = []
for f in sorted(os.listdir(out)):
    if f.endswith(".cer"):
        d = open(os.path.join(out, f), "rb").read()
        roots.append({"file": f, "purpose": "auth" if f.startswith("auth") else "sign",
                      "sha256": hashlib.sha256(d).hexdigest()})
man = {"hierarchy": "production",
       "source": "J-LIS: JPKI roots from https://www.jpki.go.jp/ca/index.html and the CV CA keys "
                 "5000020/5000023/5000033, as carried by myna-card 3.3.4 (MIT; certs/ and src/ca.rs). "
                 "Regenerate with crates/card/trust/extract.py; tests check them against myna-card's tables.",
       "jpki_roots": roots, "cv_ca_keys": keys}
json.dump(man, open(os.path.join(out, "anchors.json"), "w"), indent=1)
