# The Fashion-MNIST feature classifier behind fd_fmnist, kid_fmnist and is_fmnist:
#   patchgen features train configs/features/fmnist_classifier.py --out fmnist_classifier.pth
# Images are padded from 28 to 32 pixels as in configs/fmnist32_*.py, so that generated
# 32x32 samples and the dataset reach the classifier unresized.
name = 'fmnist'
pipeline = [dict(type='CenterPad', size=32)]
train_dataset = dict(type='FashionMNIST', split='train', pipeline=pipeline)
test_dataset = dict(type='FashionMNIST', split='test', pipeline=pipeline)
# in_channels, num_classes and resolution default to the training set's (1, 10, 32).
model = dict(widths=(16, 32, 64, 128), depths=(1, 1, 1, 1), feature_dim=128)
epochs = 5
batch_size = 128
lr = 3e-3
seed = 0
num_workers = 0
