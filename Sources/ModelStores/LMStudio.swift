// LM Studio's models folder: `<publisher>/<repo>/<file>.gguf`, or Hugging Face style folders (MLX models).
//
// Layout (lmstudio.ai/docs, "Import Models"):
//   ~/.lmstudio/models/<publisher>/<repo>/<file>.gguf
//       e.g. lmstudio-community/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf
//   ~/.lmstudio/models/<publisher>/<repo>/{config.json, *.safetensors}
//       MLX and other Hugging Face style models
// Older versions used ~/.cache/lm-studio/models. LM Studio has no environment variable for this folder;
// its home can be moved, which it records in ~/.lmstudio-home-pointer (ModelSearchPaths reads that).
import Foundation

enum LMStudio {
    /// Models in one LM Studio models folder, named by their path below it (`publisher/repo/file.gguf`,
    /// `publisher/repo`).
    static func models(root: URL, problems: inout [ModelStoresError]) -> [LocalModel] {
        FolderScanner(source: .lmStudio).scan(root, problems: &problems)
    }
}
