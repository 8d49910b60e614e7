// The training loop: steps, schedule, evaluation, checkpoints and resume (DESIGN.md §2). Filled by the training issue.
import Datasets
import Models
