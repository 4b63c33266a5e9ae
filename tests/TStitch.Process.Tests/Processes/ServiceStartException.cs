namespace TStitch.Process.Tests;

/// <summary>A child process that exited or never became ready; the message carries its log.</summary>
public sealed class ServiceStartException(string message) : Exception(message);
