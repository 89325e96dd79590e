"""Conversion command for pretrained weights; see `nasnet_keras.convert`.

    python pretrained/convert.py convert ~/.keras/models/nasnet_mobile.h5 --variant mobile --output nasnet_a_mobile.h5
    python pretrained/convert.py convert nasnet-a_large/model.ckpt --variant large --pad-mode tf --output nasnet_a_large_slim.h5
    python pretrained/convert.py manifest > pretrained/manifest.json
"""

import sys

from nasnet_keras.convert import main

if __name__ == "__main__":
    sys.exit(main())
