use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of artifacts symx stores. Their names (`mapkind`) are the ones of the Datadog
/// list and delete documents, plus `pe` and `repository`, which those documents upload but do
/// not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Js,
    React,
    Jvm,
    Ios,
    Flutter,
    Ndk,
    Elf,
    Pe,
    Il2cpp,
    Repository,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 10] = [
        Self::Js,
        Self::React,
        Self::Jvm,
        Self::Ios,
        Self::Flutter,
        Self::Ndk,
        Self::Elf,
        Self::Pe,
        Self::Il2cpp,
        Self::Repository,
    ];

    /// The `mapkind` name of the list/delete documents.
    pub fn mapkind(self) -> &'static str {
        match self {
            Self::Js => "js",
            Self::React => "react",
            Self::Jvm => "jvm",
            Self::Ios => "ios",
            Self::Flutter => "flutter",
            Self::Ndk => "ndk",
            Self::Elf => "elf",
            Self::Pe => "pe",
            Self::Il2cpp => "il2cpp",
            Self::Repository => "repository",
        }
    }

    pub fn from_mapkind(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.mapkind() == s)
    }

    /// A stable one-byte tag used in storage keys. Never renumber: it is persisted.
    pub fn tag(self) -> u8 {
        match self {
            Self::Js => 1,
            Self::React => 2,
            Self::Jvm => 3,
            Self::Ios => 4,
            Self::Flutter => 5,
            Self::Ndk => 6,
            Self::Elf => 7,
            Self::Pe => 8,
            Self::Il2cpp => 9,
            Self::Repository => 10,
        }
    }

    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// Kinds whose list and delete calls require `filter[service]` and `filter[version]`
    /// (list and delete documents).
    pub fn requires_service_and_version(self) -> bool {
        matches!(self, Self::Js | Self::Jvm | Self::React | Self::Flutter)
    }

    pub fn upload_type(self) -> UploadType {
        match self {
            Self::Js => UploadType::JsSourcemap,
            Self::React => UploadType::ReactNativeSourcemap,
            Self::Jvm => UploadType::JvmMappingFile,
            Self::Ios => UploadType::IosSymbols,
            Self::Flutter => UploadType::FlutterSymbolFile,
            Self::Ndk => UploadType::NdkSymbolFile,
            Self::Elf => UploadType::ElfSymbolFile,
            Self::Pe => UploadType::PeSymbolFile,
            Self::Il2cpp => UploadType::Il2cppMappingFile,
            Self::Repository => UploadType::Repository,
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mapkind())
    }
}

/// The upload `type`s of the Datadog upload document, one per artifact kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadType {
    JsSourcemap,
    ReactNativeSourcemap,
    JvmMappingFile,
    IosSymbols,
    FlutterSymbolFile,
    NdkSymbolFile,
    Il2cppMappingFile,
    ElfSymbolFile,
    PeSymbolFile,
    Repository,
}

impl UploadType {
    pub const ALL: [UploadType; 10] = [
        Self::JsSourcemap,
        Self::ReactNativeSourcemap,
        Self::JvmMappingFile,
        Self::IosSymbols,
        Self::FlutterSymbolFile,
        Self::NdkSymbolFile,
        Self::Il2cppMappingFile,
        Self::ElfSymbolFile,
        Self::PeSymbolFile,
        Self::Repository,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsSourcemap => "js_sourcemap",
            Self::ReactNativeSourcemap => "react_native_sourcemap",
            Self::JvmMappingFile => "jvm_mapping_file",
            Self::IosSymbols => "ios_symbols",
            Self::FlutterSymbolFile => "flutter_symbol_file",
            Self::NdkSymbolFile => "ndk_symbol_file",
            Self::Il2cppMappingFile => "il2cpp_mapping_file",
            Self::ElfSymbolFile => "elf_symbol_file",
            Self::PeSymbolFile => "pe_symbol_file",
            Self::Repository => "repository",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn kind(self) -> ArtifactKind {
        match self {
            Self::JsSourcemap => ArtifactKind::Js,
            Self::ReactNativeSourcemap => ArtifactKind::React,
            Self::JvmMappingFile => ArtifactKind::Jvm,
            Self::IosSymbols => ArtifactKind::Ios,
            Self::FlutterSymbolFile => ArtifactKind::Flutter,
            Self::NdkSymbolFile => ArtifactKind::Ndk,
            Self::Il2cppMappingFile => ArtifactKind::Il2cpp,
            Self::ElfSymbolFile => ArtifactKind::Elf,
            Self::PeSymbolFile => ArtifactKind::Pe,
            Self::Repository => ArtifactKind::Repository,
        }
    }

    /// The multipart file parts of this type: (name, required), per the upload document.
    pub fn parts(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::JsSourcemap => &[
                ("source_map", true),
                ("minified_file", true),
                ("repository", false),
            ],
            Self::ReactNativeSourcemap => &[
                ("source_map", true),
                ("minified_file", false),
                ("repository", false),
            ],
            Self::JvmMappingFile => &[("jvm_mapping_file", true), ("repository", false)],
            Self::IosSymbols => &[("symbols_archive", true)],
            // `sources`: a source bundle of the file (Sentry's, or a plain zip), served by the
            // symbol server.
            Self::FlutterSymbolFile => &[("flutter_symbol_file", true), ("sources", false)],
            Self::NdkSymbolFile => &[("ndk_symbol_file", true), ("sources", false)],
            Self::Il2cppMappingFile => &[("il2cpp_mapping_file", true)],
            Self::ElfSymbolFile => &[("elf_symbol_file", true), ("sources", false)],
            Self::PeSymbolFile => &[("pe_symbol_file", true), ("sources", false)],
            Self::Repository => &[("repository", true)],
        }
    }
}

impl fmt::Display for UploadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags_round_trip() {
        for k in ArtifactKind::ALL {
            assert_eq!(ArtifactKind::from_mapkind(k.mapkind()), Some(k));
            assert_eq!(ArtifactKind::from_tag(k.tag()), Some(k));
            assert_eq!(k.upload_type().kind(), k);
        }
        for t in UploadType::ALL {
            assert_eq!(UploadType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ArtifactKind::from_mapkind("wasm"), None);
    }
}
