"""The models people use, built from tiny configs of transformers (no download, no network).

PyPI's torchvision wheel, which ``mup`` pulls in, is a CUDA build whose ops do not load next to
the CPU torch, and transformers imports torchvision whenever it finds it installed. None of the
models below needs it, so :func:`initlib.course.demos.import_transformers` hides a torchvision that cannot
be imported.
"""

from __future__ import annotations

import torch

from initlib.course.demos import import_transformers

T = import_transformers()
T.logging.set_verbosity_error()

VOCAB, SEQ, BATCH, IMAGE = 500, 16, 4, 32


def _seeded(build, seed=0):
    torch.manual_seed(seed)
    return build().eval()


def gpt2(layers=2, width=64, **kw):
    cfg = T.GPT2Config(
        n_layer=layers, n_embd=width, n_head=4, vocab_size=VOCAB, n_positions=SEQ, bos_token_id=0, eos_token_id=0, **kw
    )
    return _seeded(lambda: T.GPT2LMHeadModel(cfg))


def bert(layers=2, width=64):
    cfg = T.BertConfig(
        num_hidden_layers=layers,
        hidden_size=width,
        num_attention_heads=4,
        intermediate_size=4 * width,
        vocab_size=VOCAB,
        max_position_embeddings=SEQ,
    )
    return _seeded(lambda: T.BertModel(cfg))


def llama(layers=2, width=64):
    cfg = T.LlamaConfig(
        num_hidden_layers=layers,
        hidden_size=width,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=2 * width,
        vocab_size=VOCAB,
        max_position_embeddings=SEQ,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return _seeded(lambda: T.LlamaForCausalLM(cfg))


def vit(layers=2, width=64):
    cfg = T.ViTConfig(
        num_hidden_layers=layers,
        hidden_size=width,
        num_attention_heads=4,
        intermediate_size=2 * width,
        image_size=IMAGE,
        patch_size=8,
    )
    return _seeded(lambda: T.ViTModel(cfg, add_pooling_layer=False))


def resnet(layer_type="basic"):
    cfg = T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[2, 2], layer_type=layer_type)
    return _seeded(lambda: T.ResNetModel(cfg))


def convnext():
    cfg = T.ConvNextConfig(hidden_sizes=[16, 32], depths=[2, 2], num_stages=2)
    return _seeded(lambda: T.ConvNextModel(cfg))


def mobilenet_v2():
    cfg = T.MobileNetV2Config(image_size=IMAGE, depth_multiplier=0.35)
    return _seeded(lambda: T.MobileNetV2Model(cfg))


def swin():
    cfg = T.SwinConfig(image_size=IMAGE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4)
    return _seeded(lambda: T.SwinModel(cfg))


def tokens(seed=0):
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(seed))


def images(seed=0):
    return torch.randn(BATCH, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


# name: (builder, its inputs)
MODELS = {
    "gpt2": (gpt2, tokens),
    "bert": (bert, tokens),
    "llama": (llama, tokens),
    "vit": (vit, images),
    "resnet": (resnet, images),
    "convnext": (convnext, images),
    "mobilenet_v2": (mobilenet_v2, images),
    "swin": (swin, images),
}
