using TStitch.Denoising;

// The small pool: the shared denoiser host with this folder's appsettings.json.
DenoiserHost.Create(args, "small-denoiser").Run();
