#pragma once
// qanet metrics: CTC SEG, boundary metrics (HD, MHD, MHD95, ASD, neMHD), regression statistics.
