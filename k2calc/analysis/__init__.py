"""One module per question, each reading only the architecture description (arch/) and the inputs.

params, flops, kv, checkpoint: what a model is and costs; plan, engines: whether a deployment fits and
how each serving engine accounts memory; perf: how fast it serves; comparison: several side by side.
Nothing here imports the faces (cli, api, check) or the presentation (views, render, plot)."""
