"""Federated training with TensorFlow Federated: FedAvg process, training loop, runtime."""
