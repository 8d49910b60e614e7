// Shape legend used by every kernel comment in this module (as in llm.c):
//   N   tokens in a flat (packed or padded) batch        C    hidden size
//   H   attention heads      KVH  key/value heads       D    head dim
//   F   MLP intermediate size                            V    vocabulary size
//   R   LoRA rank            In/Out  a linear layer's input/output features
// Matrices follow HF orientation: a weight is [Out, In] and a linear layer computes y = x·Wᵀ.
