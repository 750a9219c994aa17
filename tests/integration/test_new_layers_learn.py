"""The newer layers learn real tasks, not only match PyTorch op by op: a Transformer encoder
reverses token sequences, a GRU fed packed variable-length sequences reports each sequence's
last token (which it can only know if the padding is skipped), and maximum likelihood through
``distributions`` recovers a Gaussian's parameters. Each takes a couple of seconds."""
import numpy as np

import flambeau as torch
from flambeau.nn.utils.rnn import pack_padded_sequence

nn = torch.nn


def test_transformer_encoder_learns_to_reverse_sequences():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab, length, d = 10, 6, 32

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(torch.randn(length, d) * 0.1)
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True), 2)
            self.out = nn.Linear(d, vocab)

        def forward(self, x):
            return self.out(self.enc(self.emb(x) + self.pos))
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        x = rng.integers(0, vocab, (64, length))
        loss = nn.functional.cross_entropy(net(torch.tensor(x)).reshape(-1, vocab),
                                           torch.tensor(x[:, ::-1].copy()).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = rng.integers(0, vocab, (256, length))
    with torch.no_grad():
        acc = (net(torch.tensor(x)).argmax(-1).numpy() == x[:, ::-1]).mean()
    assert acc > 0.95, acc          # chance: 0.1


def test_gru_on_packed_sequences_learns_each_last_token():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab, steps = 5, 8
    emb, gru, head = nn.Embedding(vocab, 16), nn.GRU(16, 32, batch_first=True), nn.Linear(32, vocab)
    opt = torch.optim.Adam(list(emb.parameters()) + list(gru.parameters()) + list(head.parameters()), lr=1e-2)

    def batch(n):
        lengths = rng.integers(1, steps + 1, n)
        x = rng.integers(0, vocab, (n, steps))
        x[np.arange(steps)[None, :] >= lengths[:, None]] = 0        # padding after each sequence
        return x, lengths, x[np.arange(n), lengths - 1]

    def last_state(x, lengths):
        _, h = gru(pack_padded_sequence(emb(torch.tensor(x)), lengths, batch_first=True, enforce_sorted=False))
        return h[-1]
    for _ in range(300):
        x, lengths, y = batch(64)
        loss = nn.functional.cross_entropy(head(last_state(x, lengths)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, lengths, y = batch(512)
    with torch.no_grad():
        acc = (head(last_state(x, lengths)).argmax(-1).numpy() == y).mean()
    assert acc > 0.95, acc          # chance: 0.2


def test_maximum_likelihood_recovers_a_gaussian():
    torch.manual_seed(0)
    data = torch.tensor(np.random.default_rng(0).normal(3.0, 0.5, 4000).astype(np.float32))
    loc = torch.zeros((), requires_grad=True)
    log_scale = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([loc, log_scale], lr=0.05)
    for _ in range(400):
        nll = -torch.distributions.Normal(loc, log_scale.exp()).log_prob(data).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
    assert abs(loc.item() - data.mean().item()) < 0.01
    assert abs(log_scale.exp().item() - data.std(correction=0).item()) < 0.01
