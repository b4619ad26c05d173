# An MNIST feature classifier behind fd_mnist, kid_mnist and is_mnist, trained on MNIST-5k:
#   patchgen features train configs/features/mnist5k_classifier.py --out mnist_classifier.pth
# MNIST-5k is small (5,000 digits, 500 per class, rows sorted by label): every fifth row
# (100 per class) is held out for testing and the other 4,000 train the classifier, so it
# is weaker than one trained on the full MNIST. Images are padded from 28 to 32 pixels as
# in configs/quickstart.py.
name = 'mnist'
pipeline = [dict(type='CenterPad', size=32)]
train_dataset = dict(type='MNIST5k', pipeline=pipeline, indices=[i for i in range(5000) if i % 5])
test_dataset = dict(type='MNIST5k', pipeline=pipeline, indices=list(range(0, 5000, 5)))
# in_channels, num_classes and resolution default to the training set's (1, 10, 32).
model = dict(widths=(16, 32, 64, 128), depths=(1, 1, 1, 1), feature_dim=128)
epochs = 10
batch_size = 64
lr = 3e-3
seed = 0
num_workers = 0
