using System.Runtime.CompilerServices;

// Tests check FrechetDistance's exact-moments overload against closed-form answers.
[assembly: InternalsVisibleTo("TStitch.Zoo.Tests")]
