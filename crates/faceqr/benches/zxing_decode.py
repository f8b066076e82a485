"""Decode every image listed on stdin with zxing-cpp (QR only) and print, per image,
`index<TAB>decoded-ok(0/1)<TAB>milliseconds`. The expected text is the second field of each
input line: `index<TAB>path<TAB>expected`. Used by benches/decode.rs as the reference reader."""
import sys
import time

import numpy as np
import zxingcpp
from PIL import Image

for line in sys.stdin:
    index, path, expected = line.rstrip("\n").split("\t", 2)
    img = np.asarray(Image.open(path).convert("L"))
    t0 = time.perf_counter()
    results = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    ms = (time.perf_counter() - t0) * 1000.0
    ok = any(r.text == expected for r in results)
    print(f"{index}\t{int(ok)}\t{ms:.3f}", flush=True)
