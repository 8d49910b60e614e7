// Text ↔ token ids from tokenizer.json or GGUF vocabularies (DESIGN.md §2).
import Formats
