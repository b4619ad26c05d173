# The quickstart run with a backbone from outside patchgen. Make the package importable
# (pip install -e examples/custom_backbone, or PYTHONPATH=examples/custom_backbone), then:
#   patchgen train examples/custom_backbone/config.py
_base_ = ['../../configs/quickstart.py']

custom_imports = dict(imports=['tinynet'], allow_failed_imports=False)  # registers TinyConvNet
model = dict(backbone=dict(_delete_=True, type='TinyConvNet', width=32, depth=4))
