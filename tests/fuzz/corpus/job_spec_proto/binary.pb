
jpB.
sm*	in.##.exr2
out.##.exr:1-10@