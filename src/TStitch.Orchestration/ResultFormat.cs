namespace TStitch.Orchestration;

/// <summary>What a finished job keeps as its result.</summary>
public enum ResultFormat { Png, Raw, PngAndRaw }
