# Writes dtypes.safetensors, the fixture of SafeTensorsInteropTests.swift: the same values in
# F32, F16 and BF16 (torch's own conversion, written by the `safetensors` library that
# transformers uses), plus an I64 tensor the reader must refuse, and __metadata__. Run once
# (python3 make_safetensors_fixture.py; needs torch and safetensors) and commit the output;
# the tests do not need Python.
import torch
from safetensors.torch import save_file

values = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.14159265, 1e-3, 6.1e-5, 5.96e-8, 65504.0, -1e-7,
                       0.1, 123.456, float("inf"), float("-inf")], dtype=torch.float32)
grid = torch.linspace(-4, 4, 24, dtype=torch.float32).reshape(2, 3, 4)
tensors = {
    "values.f32": values,
    "values.f16": values.to(torch.float16),
    "values.bf16": values.to(torch.bfloat16),
    # What torch makes of the halves, back in float32: the reader must give exactly these.
    "values.f16_as_f32": values.to(torch.float16).to(torch.float32),
    "values.bf16_as_f32": values.to(torch.bfloat16).to(torch.float32),
    "grid.f32": grid,
    "grid.bf16": grid.to(torch.bfloat16),
    "scalar.f32": torch.tensor(7.0),
    "counts.i64": torch.arange(5, dtype=torch.int64),
}
save_file(tensors, "dtypes.safetensors", metadata={"format": "pt", "note": "gpt-dist fixture"})
print({k: (str(v.dtype), list(v.shape)) for k, v in tensors.items()})
