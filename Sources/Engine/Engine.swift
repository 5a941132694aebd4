public enum EngineInfo {}
