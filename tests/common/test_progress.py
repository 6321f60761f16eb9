"""ProgressLog: quarter-epoch and end-of-epoch lines with metrics and time left; result-neutral."""
import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from common.lightning.progress import ProgressLog, format_seconds


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.lin(batch[0]).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/acc", 0.5)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_progress_lines_per_quarter_and_epoch(tmp_path):
    lines = []
    loader = DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=2)  # 8 batches: marks after 2, 4, 6
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
                        callbacks=[ProgressLog(printer=lines.append)])
    trainer.fit(_Tiny(), train_dataloaders=loader, val_dataloaders=loader)
    assert len(lines) == 2 * 4, lines  # 3 marks + 1 end line per epoch
    assert "epoch 1/2, batch 2/8 (25 %)" in lines[0] and "epoch 1/2, batch 6/8 (75 %)" in lines[2]
    assert "epoch 1/2 done" in lines[3] and "val/acc 0.5" in lines[3] and "train/loss" in lines[3]
    assert "train/loss_step" not in lines[3] and lines[3].startswith(f"[{tmp_path.name}] ")
    assert "left" in lines[3] and "epoch 2/2 done" in lines[7] and "~0 s left" in lines[7]
    assert ProgressLog.result_neutral


def test_format_seconds_and_bad_fraction():
    assert format_seconds(7) == "7 s" and format_seconds(95) == "1 min 35 s"
    assert format_seconds(3725) == "1 h 02 min"
    with pytest.raises(ValueError, match="every"):
        ProgressLog(every=0)
