// JSONL records → validated examples → token ids and loss masks (DESIGN.md §2). Filled by the training issue.
import ChatTemplates
import Tokenizers
