"""FACT, bFACT, the NFA (AGOP) and the eNFA of any PyTorch model's weight matrices, and its stationarity.

Modules, one job each:

``layer_views``    the registry: which weight matrices a module holds and what each multiplies
``view_check``     a view checked against its module's forward, on the module's first call
``shared_weights`` a weight used by several modules (tied embeddings): one gradient over its uses
``huggingface``    views of transformers' modules (GPT-2's Conv1D and fused q/k/v), loaded when a model has one
``attention``      ``nn.MultiheadAttention`` recomputed one product at a time
``recording``      forward hooks keeping each matrix's input rows h and output z
``backward``       Jacobians and loss gradients at every recorded z, in one batched backward pass
``accumulation``   the float64 data sums G, E, B of each matrix
``layer_matrices`` ``LayerMatrices``: every relation of one matrix, from its sums
``layer_selection`` the layers a pass computes: names, modules or all
``matrices``       ``feature_matrices``: the pass over the data, and one-matrix shortcuts
``weights``        ``weight_matrices``: FACT and bFACT of every weight from the mean loss's gradient
``distributed``    the sums over samples all-reduced across the ranks of ``torch.distributed``
``monitor``        ``Monitor``: stationarity, tau and every relation recorded while a model trains
``monitor_table``, ``monitor_settings``  its table on disk (kept, resumed, never overwritten); its checked settings
``decay_time``     tau, how long weight decay has acted, read from an optimizer
``monitor_plot``   a Figure-8-like view of a monitor's table
``monitor_lightning``, ``monitor_trainer``  the monitor as a Lightning and a Hugging Face Trainer callback
``objective``      the regularised objective, its gradient and the stationarity error, written once
``losses``         per-sample losses
``batches``        batches from tensors or DataLoaders, eval mode, checks of data and outputs
``metrics``        agreement between two matrices (Pearson, Spearman, cosine, relative error)
``linalg``         symmetric powers and block Gram products
"""
