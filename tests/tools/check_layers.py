#!/usr/bin/env python3
"""The layer rules of docs/design.md, checked on the source tree: which folder may include from
which, that only mpi/ calls MPI or NCCL (the parallel-HDF5 file access call aside), that cuda/
reads no files or configs, and that data-tools/ reaches the model's description but not its
forward/backward. Prints one "PASS rule" / "FAIL rule" line per rule with every violation.

    python3 tests/tools/check_layers.py [ROOT]
"""
import os
import re
import sys

# folder -> the folders it may include from (itself always)
ALLOWED = {
    'src/util': set(),
    'src/backend': {'src/util'},
    'src/cpu': {'src/backend', 'src/util'},
    'cuda': {'src/backend', 'src/util'},
    'src/model': {'src/backend', 'src/util'},
    'src/vae': {'src/backend', 'src/ckpt', 'src/util'},
    'src/ckpt': {'src/model', 'src/util', 'mpi'},
    'src/config': {'src/model', 'src/util'},
    'src/data': {'src/util'},
    'src/plot': {'src/util'},
    'mpi': {'src/backend', 'src/util', 'cuda'},
    'src/train': {'mpi', 'src/backend', 'src/ckpt', 'src/config', 'src/data', 'src/model', 'src/sample', 'src/util'},
    'src/sample': {'mpi', 'src/backend', 'src/ckpt', 'src/config', 'src/model', 'src/vae', 'src/util'},
    'src/eval': {'mpi', 'src/backend', 'src/ckpt', 'src/util'},
    'src/apps': None,   # program mains: anything
    'data-tools': None,
}
# The model's description (configuration, parameter table): what layers above the model's
# forward/backward may use without reaching it.
MODEL_DESCRIPTION = {'src/model/model_config.h', 'src/model/params.h', 'src/model/config_json.h'}
DESCRIPTION_ONLY = {'src/ckpt', 'src/config', 'data-tools'}
SOURCE = re.compile(r'.*\.(c|h|cu|cuh)$')
MPI_CALL = re.compile(r'\b(MPI_[A-Z][a-z_]+\s*\(|MPI_Comm\b|nccl[A-Z]\w*\s*\()')
FILE_IO = re.compile(r'\b(fopen|fread|fwrite|open|yaml_\w+|h5_\w+|H5[A-Z]\w*)\s*\(')


def folder_of(path):
    parts = path.split('/')
    return '/'.join(parts[:2]) if parts[0] == 'src' else parts[0]


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def sources(root):
    for top in ['src', 'cuda', 'mpi', 'data-tools']:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if SOURCE.match(f):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '.'
    problems = {'includes follow the layers': [], 'only mpi/ calls MPI and NCCL': [],
                'cuda/ reads no files or configs': [], 'the model description only, not its forward/backward': [],
                'every folder has a rule': []}
    for path in sources(root):
        me = folder_of(path)
        text = open(os.path.join(root, path), encoding='utf-8', errors='replace').read()
        code = strip_comments(text)
        if me not in ALLOWED:
            problems['every folder has a rule'].append('%s: folder %s is not in check_layers.py' % (path, me))
            continue
        for n, line in enumerate(code.split('\n'), 1):
            m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
            if m:
                target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
                them = folder_of(target)
                allowed = ALLOWED[me]
                if them != me and allowed is not None and them not in allowed:
                    problems['includes follow the layers'].append('%s:%d includes %s' % (path, n, target))
                if me in DESCRIPTION_ONLY and them == 'src/model' and target not in MODEL_DESCRIPTION:
                    problems['the model description only, not its forward/backward'].append(
                        '%s:%d includes %s' % (path, n, target))
            if me != 'mpi' and MPI_CALL.search(line) and 'H5Pset_fapl_mpio' not in line:
                problems['only mpi/ calls MPI and NCCL'].append('%s:%d: %s' % (path, n, line.strip()))
            if me == 'cuda' and FILE_IO.search(line):
                problems['cuda/ reads no files or configs'].append('%s:%d: %s' % (path, n, line.strip()))
    failed = 0
    for rule, found in problems.items():
        name = re.sub(r'\W+', '_', rule).strip('_')
        if found:
            failed += 1
            print('FAIL %s' % name)
            for f in found:
                print('    ' + f)
        else:
            print('PASS %s' % name)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
