# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one-sector test guest: its machine code and the raw disk images made from it.

The bytes below are bootsector.S assembled with GNU binutils.  After editing
bootsector.S, regenerate them with

    python3 tests/guests/bootsector.py hex

(it runs as, ld and objcopy on bootsector.S) and paste the printed block over
SECTOR_HEX.  tests/unit/guests/test_bootsector.py checks that they match.

Standard library only; runs with Python 3.9 or later.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bootsector.S')

SECTOR_SIZE = 512
# q35's SeaBIOS refuses a bare 512-byte disk ("could not read the boot disk").
IMAGE_SIZE = 1024 * 1024
# Offset of the "ignore_button" byte in bootsector.S, just before the signature.
IGNORE_BUTTON_OFFSET = 0x1fd
SIGNATURE = b'\x55\xaa'

READY_LINE = 'NOMADIC-GUEST READY bootsector'
POWEROFF_LINE = 'NOMADIC-GUEST POWEROFF'
IGNORED_LINE = 'NOMADIC-GUEST BUTTON IGNORED'

SECTOR_HEX = (
    'fafc31c08ed88ec08ed0bc007cea127c0000e4920c0224fee6920f0116b87d0f'
    '20c00c010f22c0bb08008ee324fe0f22c031db8ee366be00000e00646766813e'
    '52534420750c646766817e045054522074106683c6106681fe0000100072dce9'
    'a5006467668b76106467668b4e046683e92466c1e9020f848d006683c6246467'
    '668b3e646766813f4641435074086683c604e2eaeb7164678b4738a3be7d6467'
    '8b57408916c07deda801750b64678b573064678a4734ee8b16be7db80001ef83'
    'c202efb034e643b89c2ee64088e0e640be277de83900fbf48b16be7dedf6c401'
    '74f4b80001ef803efd7d007512be487de81c008b16c07db80020effaf4ebfcbe'
    '617de80a00ebcfbe807de80200ebecac84c0741288c4bafd03eca82074fbbaf8'
    '0388e0eeebe9c34e4f4d414449432d475545535420524541445920626f6f7473'
    '6563746f720d0a004e4f4d414449432d475545535420504f5745524f46460d0a'
    '004e4f4d414449432d475545535420425554544f4e2049474e4f5245440d0a00'
    '4e4f4d414449432d4755455354204552524f52206e6f2041435049207461626c'
    '65730d0a008d74000000000000000000ffff00000092cf000f00a87d00000000'
    '0000000000000000000000000000000000000000000000000000000000000000'
    '00000000000000000000000000000000000000000000000000000000000055aa'
)

SECTOR = bytes.fromhex(''.join(SECTOR_HEX))


def sector(ignore_button=False):
    """Return the 512-byte boot sector, optionally the variant that ignores the power button."""
    data = bytearray(SECTOR)
    data[IGNORE_BUTTON_OFFSET] = 1 if ignore_button else 0
    return bytes(data)


def image(ignore_button=False):
    """Return the whole raw disk image: the boot sector padded with zeros to IMAGE_SIZE."""
    return sector(ignore_button).ljust(IMAGE_SIZE, b'\0')


def assemble(source=SOURCE, workdir=None):
    """Assemble bootsector.S with GNU as, ld and objcopy and return the raw sector."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        obj = os.path.join(tmp, 'bootsector.o')
        elf = os.path.join(tmp, 'bootsector.elf')
        raw = os.path.join(tmp, 'bootsector.bin')
        for argv in (
            ['as', '--32', '-o', obj, source],
            ['ld', '-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start', '-o', elf, obj],
            ['objcopy', '-O', 'binary', '-j', '.text', elf, raw],
        ):
            subprocess.run(argv, check=True)
        with open(raw, 'rb') as f:
            return f.read()


def format_hex(data, indent='    '):
    """Format raw bytes as the lines of SECTOR_HEX (32 bytes a line)."""
    text = data.hex()
    return '\n'.join("%s'%s'" % (indent, text[i:i + 64]) for i in range(0, len(text), 64))


def write_image(path, ignore_button=False):
    """Write the raw image to path through a temporary file, so path is never half written."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(image(ignore_button))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    """Command line: write an image, or print SECTOR_HEX regenerated from bootsector.S."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    write = sub.add_parser('write', help='write the 1 MiB raw disk image')
    write.add_argument('path')
    write.add_argument('--ignore-button', action='store_true', help='the variant that ignores the power button')
    sub.add_parser('hex', help='assemble bootsector.S and print the SECTOR_HEX lines')
    args = parser.parse_args(argv)
    if args.command == 'write':
        write_image(args.path, args.ignore_button)
    else:
        data = assemble()
        if len(data) != SECTOR_SIZE or data[-2:] != SIGNATURE:
            sys.exit('bootsector.S must assemble to %d bytes ending in 55 aa, got %d bytes' % (SECTOR_SIZE, len(data)))
        print(format_hex(data))
    return 0


if __name__ == '__main__':
    sys.exit(main())
