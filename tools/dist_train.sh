#!/usr/bin/env bash
# Train on GPUS processes of this machine with torchrun (DDP; NCCL on GPUs, gloo on CPUs):
#   bash tools/dist_train.sh CONFIG GPUS [patchgen train options...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node; see docs/distributed.md.
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}

exec python -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS" \
    --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
