#!/usr/bin/env python
# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate the collection's extra docs (docs/docsite/rst/*.rst) from the Markdown guides.

    python hack/md2rst.py [--pandoc PATH] [--check] [--dest DIR]

The guides are written in Markdown (docs/*.md, the role README) and read as such on the
repository; antsibull-docs wants reStructuredText. Each guide is converted by pandoc
(GitHub-flavoured Markdown in, RST out), with the links rewritten on pandoc's syntax tree:

- the title gets the label antsibull-docs requires,
  ansible_collections.nomadic.qemu.docsite.<name>, and every other heading the label
  <that label>.<heading id>, so headings of different guides never collide;
- a link to another guide (or to a heading in it) becomes a :ref: to its label;
- a link to any other file of the repository, and an image, become a link to that file on
  the repository (galaxy.yml `repository`), since extra docs carry only RST;
- a link to a file or heading that does not exist is an error;
- code blocks in a language Pygments cannot lex as written are shown as text (LEXERS).

With --check nothing is written: the exit status is 1, naming the files, when the committed
RST differs from what the guides give now, or an RST file there comes from no guide; without
it, stale files are rewritten and such files removed. pandoc is the one pypandoc-binary ships (pinned
in tests/requirements-docs.txt, so every machine produces the same bytes) unless --pandoc
names another.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEST = os.path.join('docs', 'docsite', 'rst')
LABEL_PREFIX = 'ansible_collections.nomadic.qemu.docsite.'

# Markdown source (relative to the collection root) -> name of the RST document.
GUIDES = {
    'docs/coming-from-nomad.md': 'guide_coming_from_nomad',
    'docs/nomad-differences.md': 'guide_nomad_differences',
    'docs/constraints.md': 'guide_constraints',
    'docs/performance.md': 'guide_performance',
    'docs/state-and-trust.md': 'guide_state_and_trust',
    'docs/cloud-images.md': 'guide_cloud_images',
    'docs/guests-as-hosts.md': 'guide_guests_as_hosts',
    'docs/supervision.md': 'guide_supervision',
    'roles/host/README.md': 'guide_host_role',
}

# Titles to use instead of a guide's own, where it reads wrong next to the plugin docs (the
# role README is titled with the role's name, which is also the title of the role's page).
TITLES = {
    'roles/host/README.md': 'The nomadic.qemu.host role',
}

# Code block languages whose Pygments lexer rejects what the guides show, and what to use
# instead: Pygments' "hcl" is the Terraform lexer, which flags Nomad's `job` blocks as errors
# (and Sphinx warns on every such block).
LEXERS = {'hcl': 'text'}

HEADER = """\
..
  Generated from {source} by hack/md2rst.py: edit the Markdown, then run make docs-rst.
  Copyright (c) 2026, nomadic.qemu contributors
  GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
  SPDX-License-Identifier: GPL-3.0-or-later

"""


class ConversionError(Exception):
    """A guide that cannot be converted as it is (a broken link, no title)."""


def find_pandoc(given: str | None) -> str:
    if given:
        return given
    try:
        import pypandoc  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise ConversionError(
            'pypandoc is not installed: run this with the docs virtualenv (make docs-rst creates it from '
            'tests/requirements-docs.txt), or name a pandoc binary with --pandoc') from None
    return pypandoc.get_pandoc_path()


def repository_url() -> str:
    """The `repository` of galaxy.yml (read without a YAML parser: the script needs only the stdlib)."""
    with open(os.path.join(ROOT, 'galaxy.yml'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('repository:'):
                return line.split(':', 1)[1].strip().strip('\'"').rstrip('/')
    raise ConversionError('galaxy.yml has no repository: it is needed for links to files that are not guides')


def stringify(inlines) -> str:
    """Plain text of pandoc inlines (for the text of a :ref:)."""
    out = []
    for node in inlines:
        kind = node['t']
        if kind in ('Str', 'Code', 'Math', 'RawInline'):
            out.append(node['c'] if kind == 'Str' else node['c'][1])
        elif kind in ('Space', 'SoftBreak', 'LineBreak'):
            out.append(' ')
        elif kind in ('Emph', 'Strong', 'Strikeout', 'Underline', 'SmallCaps', 'Superscript', 'Subscript'):
            out.append(stringify(node['c']))
        elif kind in ('Link', 'Span', 'Quoted', 'Cite', 'Image'):
            out.append(stringify(node['c'][1]))
    return ''.join(out).replace('`', '')


def header_ids(blocks) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('t') == 'Header':
                found.append(node['c'][1][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


class Guide:
    """One Markdown guide and the labels its RST will carry."""

    def __init__(self, source: str, name: str, pandoc: str):
        self.source = source
        self.name = name
        self.label = LABEL_PREFIX + name
        with open(os.path.join(ROOT, source), encoding='utf-8') as f:
            markdown = f.read()
        self.ast = json.loads(run_pandoc(pandoc, ['-f', 'gfm', '-t', 'json'], markdown))
        self.ids = header_ids(self.ast['blocks'])
        titles = [b for b in self.ast['blocks'] if b['t'] == 'Header' and b['c'][0] == 1]
        if len(titles) != 1 or self.ast['blocks'][0] is not titles[0]:
            raise ConversionError('%s must start with its title, the only level-1 heading' % source)

    def heading_label(self, heading_id: str) -> str:
        if heading_id not in self.ids:
            raise KeyError(heading_id)
        if heading_id == self.ids[0]:
            return self.label
        return '%s.%s' % (self.label, heading_id)


def convert(guide: Guide, guides: dict[str, Guide], repository: str, pandoc: str) -> str:
    here = posixpath.dirname(guide.source)

    def target_label(path: str, fragment: str) -> str:
        other = guides[path]
        if not fragment:
            return other.label
        try:
            return other.heading_label(fragment)
        except KeyError:
            raise ConversionError('%s links to #%s, which is no heading of %s' % (guide.source, fragment, path)) from None

    def rewrite_target(url: str) -> tuple[str, str]:
        """('ref', label) or ('url', url) for a link target of the guide."""
        if '://' in url or url.startswith('mailto:'):
            return 'url', url
        path, _sep, fragment = url.partition('#')
        if not path:
            return 'ref', target_label(guide.source, fragment)
        path = posixpath.normpath(posixpath.join(here, path))
        if path in guides:
            return 'ref', target_label(path, fragment)
        if path.startswith('../') or not os.path.exists(os.path.join(ROOT, path)):
            raise ConversionError('%s links to %s, which is not a file of the collection' % (guide.source, url))
        return 'url', '%s/blob/main/%s%s' % (repository, path, '#' + fragment if fragment else '')

    def walk(node):
        if isinstance(node, list):
            return [walk(value) for value in node]
        if not isinstance(node, dict):
            return node
        kind = node.get('t')
        if kind == 'Header':
            level, (ident, classes, attrs), inlines = node['c']
            if level == 1 and guide.source in TITLES:
                inlines = [{'t': 'Str', 'c': TITLES[guide.source]}]
            node['c'] = [level, [guide.heading_label(ident), classes, attrs], walk(inlines)]
            return node
        if kind == 'CodeBlock':
            (ident, classes, attrs), text = node['c']
            node['c'] = [[ident, [LEXERS.get(c, c) for c in classes], attrs], text]
            return node
        if kind == 'Link':
            attr, inlines, (url, title) = node['c']
            how, where = rewrite_target(url)
            if how == 'ref':
                text = stringify(inlines).strip()
                return {'t': 'RawInline', 'c': ['rst', ':ref:`%s <%s>`' % (text, where)]}
            node['c'] = [attr, walk(inlines), [where, title]]
            return node
        if kind == 'Image':
            attr, inlines, (url, title) = node['c']
            _how, where = rewrite_target(url)
            text = inlines or [{'t': 'Str', 'c': posixpath.basename(url)}]
            return {'t': 'Link', 'c': [attr, walk(text), [where, title]]}
        return {key: walk(value) for key, value in node.items()}

    ast = walk(json.loads(json.dumps(guide.ast)))
    rst = run_pandoc(pandoc, ['-f', 'json', '-t', 'rst', '--wrap=none'], json.dumps(ast))
    return HEADER.format(source=guide.source) + rst.rstrip('\n') + '\n'


def run_pandoc(pandoc: str, args: list[str], text: str) -> str:
    result = subprocess.run([pandoc] + args, input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConversionError('%s %s failed: %s' % (pandoc, ' '.join(args), result.stderr.strip()))
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--pandoc', help='the pandoc binary (default: the one of pypandoc-binary)')
    parser.add_argument('--check', action='store_true', help='write nothing; fail when the committed RST is not current')
    parser.add_argument('--dest', default=os.path.join(ROOT, DEST), help='where the RST files go (default: %(default)s)')
    args = parser.parse_args()
    try:
        pandoc = find_pandoc(args.pandoc)
        repository = repository_url()
        guides = {source: Guide(source, name, pandoc) for source, name in GUIDES.items()}
        outputs = {'%s.rst' % g.name: convert(g, guides, repository, pandoc) for g in guides.values()}
    except ConversionError as exc:
        print('md2rst: %s' % exc, file=sys.stderr)
        return 2
    stale = []
    for filename, text in sorted(outputs.items()):
        path = os.path.join(args.dest, filename)
        try:
            with open(path, encoding='utf-8') as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(os.path.relpath(path, ROOT))
        if not args.check:
            os.makedirs(args.dest, exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
    # RST files of guides that are no longer listed (every RST file here is generated).
    orphans = sorted(f for f in (os.listdir(args.dest) if os.path.isdir(args.dest) else [])
                     if f.endswith('.rst') and f not in outputs)
    if args.check and (stale or orphans):
        if stale:
            print('md2rst: not current with the Markdown guides: %s; run make docs-rst and commit the result'
                  % ', '.join(stale), file=sys.stderr)
        if orphans:
            print('md2rst: generated from no guide of hack/md2rst.py GUIDES: %s; remove them or list their guide'
                  % ', '.join(os.path.join(os.path.relpath(args.dest, ROOT), f) for f in orphans), file=sys.stderr)
        return 1
    for filename in orphans:
        os.remove(os.path.join(args.dest, filename))
        print('md2rst: removed %s' % os.path.relpath(os.path.join(args.dest, filename), ROOT))
    for path in stale:
        print('md2rst: wrote %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
